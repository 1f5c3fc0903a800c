"""People: accounts and sign-in, API tokens, and the register of communities,
representatives and their mandates."""
