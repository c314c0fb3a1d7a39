"""Agency deliveries to validated records: readers (CSV, XLSX, JSON), column maps, row checks."""
