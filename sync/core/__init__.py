"""The engine's pure core: rules with no I/O, importable without SQLAlchemy or aiohttp
(`tests/unit/sync/test_pure_core_imports.py` checks what actually loads).

    entities   the entity registry: table, wire models, writers, policy, scope keys,
               references, rules
    command    a push's mutations parsed into typed commands; outcomes; `Reject`
    principal  who is calling (tenant, user, role, student / instructor, wards)
    hlc        hybrid logical clock stamps, clamping of clocks from the future
    cursor     signed, opaque pull cursors (tenant, user, rev, scope fingerprint, schema)
    scope      who may read what: the Python predicate, pull's reach, the live filter
    policy     field last-writer-wins, delete vs update, lesson/booking state machines,
               the note-body merge decision
    textmerge  three-way token merge of lesson-note text
    geo        GPS maths: haversine, point validation
    derive     server-derived fields: progress, trip totals, mock-test score and pass
    pricing    which rate card prices a booking, and when two cards' periods overlap
"""
