"""信用报告: numbered public credit reports, committed to the 信用数据链 and verifiable offline."""
