"""Meetings (拜访 / 洽谈 / 来访考察 / 电话 / 活动), follow-up tasks (待办), timelines and calendars."""
