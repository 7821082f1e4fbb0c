"""The scheduler's replicas: which partitions each one leads, at which epochs, for the
operator (docs/semantics.md, *Leadership*)."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.http import models as m
from adapters.http.deps import Admin, Ctx
from domain.errors import Forbidden
from service.usecases.replicas import ReplicasReport, replicas_report

router = APIRouter(tags=["audit"], responses=m.ERRORS)


@router.get("/admin/replicas", response_model=m.Replicas)
async def replicas(t: Admin, ctx: Ctx) -> m.Replicas:
    """Every scheduler replica known (its membership, or a lease it holds) with the
    partitions it leads and their epochs, the cluster-wide lease's holder, and the
    partitions nobody leads now: an admin token of the operator's tenant
    (``KAIROS_OPERATOR_TENANT``) only; anyone else is 403."""
    if ctx.operator is None or t != ctx.operator:
        raise Forbidden("only the operator's tenant sees the replicas", needed="operator")
    return render(await replicas_report(ctx.system_db))


def render(report: ReplicasReport) -> m.Replicas:
    return m.Replicas(
        partitions=report.partitions,
        unleased=report.unleased(),
        items=[
            m.ReplicaShare(
                name=share.name,
                live=share.live,
                started_at=share.started_at.isoformat() if share.started_at else None,
                seen_at=share.seen_at.isoformat() if share.seen_at else None,
                leader_epoch=share.leader_epoch,
                partitions=[
                    m.PartitionLease(partition=p, epoch=epoch)
                    for p, epoch in sorted(share.partitions.items())
                ],
            )
            for share in report.replicas
        ],
    )
