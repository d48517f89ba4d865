"""Money kept by the engine itself, inside a school's write transaction: the students' credit
ledger and balances (`sync.money.ledger`), and its expiry sweep (`sync.money.expiry`)."""
