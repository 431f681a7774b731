"""Quick replies (快捷回复) and macros (宏): the agent's saved answers and one-click changes."""
