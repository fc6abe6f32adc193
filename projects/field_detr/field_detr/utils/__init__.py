"""What the tools use and the library does not need to train or predict:
benchmarks (:mod:`.benchmark`), log and result analysis (:mod:`.analysis`),
the short console (:mod:`.console`) and generated demo data
(:mod:`.demo_data`)."""
