"""共享调度: departments subscribe to catalog items and/or subjects and receive their changes."""
