"""kpi targets: annual signed-investment targets per cluster and team; snapshots of the dashboard's figures

Revision ID: f1a2b3c4d5e6
Revises: e7f8a9b0c1d2
Create Date: 2026-11-28 17:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1a2b3c4d5e6'
down_revision = 'e7f8a9b0c1d2'
branch_labels = None
depends_on = None


def upgrade():
    # 年度目标: the signed investment (万元) a cluster or a team is to reach in a year; one per year and subject
    op.create_table('annual_target',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('cluster', sa.String(length=50), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(cluster IS NULL) <> (team_id IS NULL)', name=op.f('ck_annual_target_one_subject')),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_annual_target_team_id_team'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annual_target'))
    )
    with op.batch_alter_table('annual_target', schema=None) as batch_op:
        batch_op.create_index('uq_annual_target_year_cluster', ['year', 'cluster'], unique=True, sqlite_where=sa.text('cluster IS NOT NULL'), postgresql_where=sa.text('cluster IS NOT NULL'))
        batch_op.create_index('uq_annual_target_year_team', ['year', 'team_id'], unique=True, sqlite_where=sa.text('team_id IS NOT NULL'), postgresql_where=sa.text('team_id IS NOT NULL'))

    # the dashboard's figures per viewer scope and period, refreshed by the worker (derived data)
    op.create_table('dashboard_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('period_kind', sa.String(length=10), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_snapshot')),
    sa.UniqueConstraint('scope', 'period_kind', 'period_start', 'period_end', name='uq_dashboard_snapshot_key')
    )


def downgrade():
    op.drop_table('dashboard_snapshot')
    with op.batch_alter_table('annual_target', schema=None) as batch_op:
        batch_op.drop_index('uq_annual_target_year_team', sqlite_where=sa.text('team_id IS NOT NULL'), postgresql_where=sa.text('team_id IS NOT NULL'))
        batch_op.drop_index('uq_annual_target_year_cluster', sqlite_where=sa.text('cluster IS NOT NULL'), postgresql_where=sa.text('cluster IS NOT NULL'))

    op.drop_table('annual_target')
