"""reminders: an index for the digest's counts

Revision ID: c5d6e7f8a9b0
Revises: b3c4d5e6f7a8
Create Date: 2026-11-28 19:45:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c5d6e7f8a9b0'
down_revision = 'b3c4d5e6f7a8'
branch_labels = None
depends_on = None


def upgrade():
    # the daily digest counts an officer's open tasks (overdue, due today): with deleted_at in it the index answers
    # the count alone, where PostgreSQL visited the table once per open task due by today
    op.drop_index('ix_task_owner_open', table_name='task')
    op.create_index('ix_task_owner_open', 'task', ['owner_id', 'done_at', 'due_on', 'due_at', 'id', 'deleted_at'])


def downgrade():
    op.drop_index('ix_task_owner_open', table_name='task')
    op.create_index('ix_task_owner_open', 'task', ['owner_id', 'done_at', 'due_on', 'due_at', 'id'])
