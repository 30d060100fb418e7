"""Header de-identification: the PS3.15 profile table, keyed pseudonyms, dates and UIDs."""
