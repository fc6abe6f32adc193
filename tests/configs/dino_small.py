# The small DINO with its ball head for the tests of the DINO family
# (tests/test_dino.py) and the learning test: the small-budget model the
# demo trains (configs/dino_small_field.py), as it is.
_base_ = '../../configs/dino_small_field.py'
