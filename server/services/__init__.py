"""Business rules. Services take (session, actor, …), never a Request."""
