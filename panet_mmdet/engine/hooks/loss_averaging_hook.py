"""Log losses averaged over all ranks, not rank 0's alone.

mmengine 0.10.x logs the ``log_vars`` of rank 0 only (mmdet 2.x averaged
them across GPUs in ``_parse_losses``). With this hook the logged training
losses (and every other scalar in ``log_vars``) are the mean over the
processes of a distributed run; the gradients were averaged by DDP already,
so this changes what is logged, not what is trained.
"""
import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DistributedLossAveragingHook(Hook):
    """All-reduce (mean) the training ``log_vars`` before they are logged.

    Runs before mmengine's ``RuntimeInfoHook`` (which writes ``outputs`` into
    the message hub) by having the highest priority. A no-op outside
    distributed runs.
    """

    priority = 'HIGHEST'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if not outputs or not (dist.is_available() and dist.is_initialized()):
            return
        world = dist.get_world_size()
        if world == 1:
            return
        keys = sorted(outputs)  # same order on every rank
        values = torch.stack([
            torch.as_tensor(outputs[k],
                            dtype=torch.float64).detach().cpu().reshape(())
            for k in keys
        ])
        if dist.get_backend() == 'nccl':
            values = values.cuda()
        dist.all_reduce(values)
        values = (values / world).cpu()
        for k, v in zip(keys, values):
            outputs[k] = v.to(torch.float32)
