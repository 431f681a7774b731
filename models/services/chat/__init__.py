"""Live chat: the web widget and WeCom customer service (微信客服), answered from the board."""
