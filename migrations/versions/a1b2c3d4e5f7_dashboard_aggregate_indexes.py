"""dashboard: indexes for the aggregate queries

Revision ID: a1b2c3d4e5f7
Revises: d6e7f8a9b0c1
Create Date: 2026-11-28 19:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1b2c3d4e5f7'
down_revision = 'd6e7f8a9b0c1'
branch_labels = None
depends_on = None

#: crm.projects.queries.signed_on(): the day a project was signed, as the dashboard's statements write it
SIGNED_ON = "coalesce(reached_signed, reached_under_construction, reached_in_production, reached_full_capacity)"


def upgrade():
    # a copy of the company's origin city on each project (the dashboard's breakdown by city without a join to
    # company; kept by the project and company services), filled from the companies
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin_city', sa.String(length=50), nullable=True))
    op.execute("UPDATE project SET origin_city = (SELECT company.origin_city FROM company "
               "WHERE company.id = project.company_id)")
    # the projects signed in a period (by their signing day), created in a period, and the confidential ones
    op.create_index('ix_project_signed_on', 'project', [sa.text(SIGNED_ON)], unique=False)
    op.create_index('ix_project_created', 'project', ['created_at', 'stage', 'deleted_at', 'confidential',
                                                      'owner_id'], unique=False)
    op.create_index('ix_project_confidential', 'project', ['owner_id'], unique=False,
                    sqlite_where=sa.text('confidential = 1'), postgresql_where=sa.text('confidential'))
    # a period's stage moves counted from the index (which project, from which stage)
    op.drop_index('ix_stage_move_at', table_name='stage_move')
    op.create_index('ix_stage_move_at', 'stage_move', ['at', 'to_stage', 'from_stage', 'project_id'], unique=False)
    # a period's meetings and who may see each (the owner, the company, the project), counted from the index
    op.drop_index('ix_meeting_start', table_name='meeting')
    op.create_index('ix_meeting_start', 'meeting', ['start_at', 'id', 'deleted_at', 'owner_id', 'company_id',
                                                    'project_id'], unique=False)
    # the milestones planned in a period (履约率)
    op.create_index('ix_milestone_planned', 'milestone', ['planned_date', 'project_id', 'actual_date', 'deleted_at'],
                    unique=False)


def downgrade():
    op.drop_index('ix_milestone_planned', table_name='milestone')
    op.drop_index('ix_meeting_start', table_name='meeting')
    op.create_index('ix_meeting_start', 'meeting', ['start_at', 'id'], unique=False)
    op.drop_index('ix_stage_move_at', table_name='stage_move')
    op.create_index('ix_stage_move_at', 'stage_move', ['at', 'to_stage'], unique=False)
    op.drop_index('ix_project_confidential', table_name='project')
    op.drop_index('ix_project_created', table_name='project')
    op.drop_index('ix_project_signed_on', table_name='project')
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('origin_city')
