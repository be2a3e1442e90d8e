"""Yorisoi: outreach case records for 重層的支援体制整備事業."""
