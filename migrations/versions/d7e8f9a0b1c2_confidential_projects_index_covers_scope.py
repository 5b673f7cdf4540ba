"""dashboard: the confidential projects' index holds what the scope reads of them

Revision ID: d7e8f9a0b1c2
Revises: c5d6e7f8a9b0
Create Date: 2026-11-28 23:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7e8f9a0b1c2'
down_revision = 'c5d6e7f8a9b0'
branch_labels = None
depends_on = None


def _create(columns):
    op.create_index('ix_project_confidential', 'project', columns, unique=False,
                    sqlite_where=sa.text('confidential = 1'), postgresql_where=sa.text('confidential'))


def upgrade():
    # the projects an officer may not see are listed from this index alone (owner, deleted, confidential, id):
    # PostgreSQL visited the table for each confidential project, once per statement and per parallel worker
    op.drop_index('ix_project_confidential', table_name='project')
    _create(['owner_id', 'deleted_at', 'confidential', 'id'])


def downgrade():
    op.drop_index('ix_project_confidential', table_name='project')
    _create(['owner_id'])
