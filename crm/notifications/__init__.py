"""Reminders (提醒): the notification log that makes every e-mail go out once, the kinds of reminder, and sending."""
