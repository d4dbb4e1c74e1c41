# Full PANet for the embedded demo data: the PANet demo model
# (../_base_/models/panet_r18_bufpn-gn_demo.py) with the stock demo's data
# and schedule (./mask-rcnn_r18_fpn-gn_demo.py). It is the last rung of the
# demo ablation ladder, which adds PANet's components to the stock demo one
# at a time (./ablations/, tools/run_ablation.sh;
# tests/test_demo_ablations.py checks the ladder ends at this model).
_base_ = [
    '../_base_/models/panet_r18_bufpn-gn_demo.py',
    '../_base_/datasets/demo_shapes_instance.py',
    '../_base_/schedules/demo_1600i.py',
]
