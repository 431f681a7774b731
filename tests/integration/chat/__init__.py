"""Integration tests of the chat channels: the web widget and WeCom customer service."""
