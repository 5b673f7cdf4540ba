"""The project-support board (项目帮扶 / 挂图作战): milestones of signed projects, enterprise requests (企业诉求) routed
to departments and their liaisons, and the wall chart built on them."""
