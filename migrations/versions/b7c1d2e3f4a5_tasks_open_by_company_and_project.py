"""tasks: open follow-ups of a company or a project by due

Revision ID: b7c1d2e3f4a5
Revises: e11e1de50e22
Create Date: 2026-11-28 14:50:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7c1d2e3f4a5'
down_revision = 'e11e1de50e22'
branch_labels = None
depends_on = None


def upgrade():
    # the "open tasks" card of a company's or a project's page: without these, every task of a busy company
    # (thousands) is read and sorted to find its 20 open ones soonest due
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index('ix_task_company_open', ['company_id', 'done_at', 'due_on', 'due_at', 'id'], unique=False)
        batch_op.create_index('ix_task_project_open', ['project_id', 'done_at', 'due_on', 'due_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index('ix_task_project_open')
        batch_op.drop_index('ix_task_company_open')
