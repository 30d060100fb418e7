"""Human-readable reports of a run: a PDF with totals, failures and before/after previews."""

from dicomscrub.report.pdf import write_pdf_report

__all__ = ["write_pdf_report"]
