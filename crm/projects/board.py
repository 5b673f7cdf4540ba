"""The kanban board: one column per stage, cards moved by drag and drop (or a stage menu on a phone)."""
from .views import bp


@bp.route("/projects/board")
def board():
    return "board: to be built"  # placeholder, replaced by the board page
