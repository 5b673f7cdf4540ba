"""Investment projects (招商项目) and the pipeline: stages, the kanban board, the list, history."""
