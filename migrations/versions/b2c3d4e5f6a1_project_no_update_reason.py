"""projects: the owner's reason for no update in 30 days (weekly report)

Revision ID: b2c3d4e5f6a1
Revises: f1a2b3c4d5e6
Create Date: 2026-11-28 17:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b2c3d4e5f6a1'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None


def upgrade():
    # the owner's reason a project had no update for `stale_days` (the weekly report's no-update list) and when it
    # was given: it counts while no activity came after it (crm.projects.services.no_update_reason). The server
    # default fills the rows already there (and rows bulk-loaded without the column).
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('no_update_reason', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('no_update_reason_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('no_update_reason_at')
        batch_op.drop_column('no_update_reason')
