"""信用承诺: commitments accepted by departments, their catalog records and outcomes."""
