from .amp_wrapper import AMP_WRAPPERS, Bf16AwareAmpOptimWrapper
from .grouped_constructor import (GroupedOptimWrapperConstructor,
                                  merge_param_groups)
from .wrapper import FieldClipMixin, FieldOptimWrapper

__all__ = [
    'AMP_WRAPPERS', 'Bf16AwareAmpOptimWrapper', 'FieldClipMixin',
    'FieldOptimWrapper', 'GroupedOptimWrapperConstructor', 'merge_param_groups'
]
