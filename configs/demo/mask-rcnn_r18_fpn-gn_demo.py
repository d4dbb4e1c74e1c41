# Stock Mask R-CNN for the embedded demo data: the baseline of the PANet demo
# (./panet_r18_bufpn-gn_demo.py) and rung 0 of the demo ablation ladder
# (./ablations/): same data, schedule and widths.
_base_ = [
    '../_base_/models/mask-rcnn_r18_fpn-gn_demo.py',
    '../_base_/datasets/demo_shapes_instance.py',
    '../_base_/schedules/demo_1600i.py',
]
