"""projects: the owner's reason for no update in 30 days (weekly report)

Revision ID: b2c3d4e5f6a1
Revises: f1a2b3c4d5e6
Create Date: 2026-11-28 17:30:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = 'b2c3d4e5f6a1'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None


def upgrade():
    pass  # placeholder in the chain: filled in by the work it is named for


def downgrade():
    pass
