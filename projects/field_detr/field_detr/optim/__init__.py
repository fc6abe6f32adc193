from .amp_wrapper import AMP_WRAPPERS, Bf16AwareAmpOptimWrapper
from .grouped_constructor import (GroupedOptimWrapperConstructor,
                                  merge_param_groups)

__all__ = [
    'AMP_WRAPPERS', 'Bf16AwareAmpOptimWrapper',
    'GroupedOptimWrapperConstructor', 'merge_param_groups'
]
