# Sourced by tools/run_demo.sh and tools/run_ablation.sh after they set
# DATA_DIR: the --cfg-options that point a demo config's train, val and test
# data (and both COCO evaluators) at the demo data in DATA_DIR, as the bash
# array DEMO_DATA_OPTS.
DEMO_DATA_OPTS=("train_dataloader.dataset.data_root=$DATA_DIR/"
                "val_dataloader.dataset.data_root=$DATA_DIR/"
                "test_dataloader.dataset.data_root=$DATA_DIR/"
                "val_evaluator.ann_file=$DATA_DIR/annotations/instances_val.json"
                "test_evaluator.ann_file=$DATA_DIR/annotations/instances_val.json")
