"""Statements applied to an edit plan: selection, set-field, structural statements, widening, layer construction."""
