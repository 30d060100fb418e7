"""Human-readable reports of a run: a PDF with totals, failures and before/after previews.

Import :mod:`dicomscrub.report.pdf` where a PDF is written: it pulls in matplotlib, which
costs most of a second, so nothing else imports it.
"""
