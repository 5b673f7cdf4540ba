"""company merge: aliases of merged companies

Revision ID: d6e7f8a9b0c1
Revises: c4d5e6f7a8b9
Create Date: 2026-11-28 17:30:00

"""
from alembic import op
import sqlalchemy as sa

from crm.companies import search_index


# revision identifiers, used by Alembic.
revision = 'd6e7f8a9b0c1'
down_revision = 'c4d5e6f7a8b9'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite adds a nullable column with its REFERENCES clause in place; batch mode would copy the whole table
        # (and drop the search index's triggers with it)
        op.execute("ALTER TABLE company ADD COLUMN merged_into_id INTEGER "
                   "CONSTRAINT fk_company_merged_into_id_company REFERENCES company (id)")
    else:
        op.add_column('company', sa.Column('merged_into_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_company_merged_into_id_company'), 'company', 'company',
                              ['merged_into_id'], ['id'])
    op.create_table(
        'company_alias',
        sa.Column('old_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('company_id', sa.Integer(), nullable=False),
        sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('merged_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_company_alias_company_id_company'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['merged_by_id'], ['user.id'], name=op.f('fk_company_alias_merged_by_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['old_id'], ['company.id'], name=op.f('fk_company_alias_old_id_company'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('old_id', name=op.f('pk_company_alias')),
    )
    with op.batch_alter_table('company_alias', schema=None) as batch_op:
        batch_op.create_index('ix_company_alias_company', ['company_id'], unique=False)
    op.create_table(
        'company_not_duplicate',
        sa.Column('low_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('high_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('low_id < high_id', name=op.f('ck_company_not_duplicate_ordered')),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id'],
                                name=op.f('fk_company_not_duplicate_created_by_id_user'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['high_id'], ['company.id'], name=op.f('fk_company_not_duplicate_high_id_company'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['low_id'], ['company.id'], name=op.f('fk_company_not_duplicate_low_id_company'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('low_id', 'high_id', name=op.f('pk_company_not_duplicate')),
    )


def downgrade():
    op.drop_table('company_not_duplicate')
    with op.batch_alter_table('company_alias', schema=None) as batch_op:
        batch_op.drop_index('ix_company_alias_company')
    op.drop_table('company_alias')
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite cannot drop a column that carries a foreign key: the batch copy of the table drops the search
        # index's triggers, so they are put back
        with op.batch_alter_table('company', schema=None) as batch_op:
            batch_op.drop_column('merged_into_id')
        search_index.install(bind)
    else:
        op.drop_constraint(op.f('fk_company_merged_into_id_company'), 'company', type_='foreignkey')
        op.drop_column('company', 'merged_into_id')
