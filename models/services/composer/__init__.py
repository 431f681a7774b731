"""The drawer's composer: one form for a reply to the customer (by the ticket's channel) or an
internal note, with the follow-up record's fields folded in; and who else is replying now."""
