"""The LightningModule of task `fsl`: episodic training and evaluation of a prototypical network."""
from __future__ import annotations

import torch
from torch import nn

from suite.distributed import gather_concatenated
from suite.module import TaskModule
from tasks.fewshot.confidence import mean_and_ci95
from tasks.fewshot.norm_mode import evaluation_statistics
from tasks.fewshot.protonet import prototypical_loss


class PrototypicalModule(TaskModule):
    """Prototypical network (Snell et al. 2017) over batches of episodes.

    A batch is ``(support, query, query_labels)`` of shapes (T, N, K, C, H, W), (T, N*Q, C, H, W) and
    (T, N*Q) for T tasks per step. All T episodes go through `network` in one forward pass, so
    batch-statistics norms see T*N*(K+Q) images. Logs ``train/loss``, ``train/acc``, ``val/loss``,
    ``val/acc`` (means over episodes), ``test/acc`` (mean over the test episodes) and
    ``test/acc_ci95`` (half-width of its 95% confidence interval). Evaluation normalizes with the
    statistics ``eval_norm_mode`` names (``running`` or ``episode``, see `tasks.fewshot.norm_mode`).
    """

    def __init__(self, network: nn.Module, distance: str, eval_norm_mode: str, optim_cfg, tasks_per_step: int):
        super().__init__(optim_cfg, tasks_per_step)
        self.network = network
        self.distance = distance
        self.eval_norm_mode = eval_norm_mode
        self.test_accuracies: list[torch.Tensor] = []

    def transfer_parts(self) -> tuple[str, None]:
        return "network", None  # the embedding network; prototypes need no head

    def episodes_loss(self, support: torch.Tensor, query: torch.Tensor, query_labels: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and accuracy averaged over the T episodes of a batch, and per-episode accuracy (T,)."""
        tasks, ways, shots = support.shape[:3]
        images = torch.cat([support.flatten(1, 2), query], dim=1).flatten(0, 1)
        embeddings = self.network(images).view(tasks, ways * shots + query.shape[1], -1)
        losses, accuracies = zip(*[
            prototypical_loss(episode[:ways * shots].view(ways, shots, -1), episode[ways * shots:], labels,
                              self.distance)
            for episode, labels in zip(embeddings, query_labels)])
        return torch.stack(losses).mean(), torch.stack(accuracies)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, accuracies = self.episodes_loss(*batch)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(accuracies))
        self.log("train/acc", accuracies.mean(), on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(accuracies))
        return loss

    def evaluation_step(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        with evaluation_statistics(self.network, self.eval_norm_mode):
            return self.episodes_loss(*batch)

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, accuracies = self.evaluation_step(batch)
        self.log("val/loss", loss, on_step=False, on_epoch=True, batch_size=len(accuracies), sync_dist=True)
        self.log("val/acc", accuracies.mean(), on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(accuracies), sync_dist=True)

    def on_test_epoch_start(self) -> None:
        self.test_accuracies = []

    def test_step(self, batch, batch_idx: int) -> None:
        self.test_accuracies.append(self.evaluation_step(batch)[1].detach().cpu())

    def on_test_epoch_end(self) -> None:
        accuracies = gather_concatenated(torch.cat(self.test_accuracies))  # every process's episodes
        mean, ci95 = mean_and_ci95(accuracies)
        self.log("test/acc", mean)
        self.log("test/acc_ci95", ci95)
        self.log("test/episodes", float(len(accuracies)))
