"""Plan: pilot and full-run spend projected per cache scenario, break-even hit rates, and the
budget gate that submit applies."""
