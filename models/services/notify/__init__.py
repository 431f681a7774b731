"""Notifications to staff: the bell, personal preferences and delivery channels (email, WeCom,
DingTalk, Feishu, webhooks).
"""
