"""Numbers for the monthly review: the problem summary, KPI dashboard, top issues and exports."""
