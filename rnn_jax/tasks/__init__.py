"""Tasks and their registry: ``rnn_jax.tasks.get(name, **options)``.

==============  ============================================  ====================
name            what                                          options
==============  ============================================  ====================
adding          adding problem (Arjovsky 2016 / H&S 1997)     seq_len, variant
copy            copy memory (Arjovsky 2016)                   delay
parity          parity of a bit stream                        seq_len
digits          sklearn 8×8 digits, pixel by pixel            permuted, seed
mnist1d         MNIST-1D, generated offline                   seed
forecast        one-step forecast of a noisy sum of sines     seq_len, noise, ...
temporal_order  order of two marked symbols (Pascanu 2013)    seq_len, min_len
delayed_xor     XOR of the bits d and 2d steps back           seq_len, delay
linear_system   a random linear teacher (Zucchet 2024)        seq_len, min_nu, ...
first_input     the sign of the first input, under noise      seq_len, noise
echo            repeat a cue bit exactly d steps later        seq_len, delay
==============  ============================================  ====================

Your own data: :class:`ArrayTask`.
"""

from rnn_jax.tasks.adding import Adding, AddingVariant
from rnn_jax.tasks.arrays import ArrayTask
from rnn_jax.tasks.base import LossKind, Task, available, get, register
from rnn_jax.tasks.copy_memory import CopyMemory
from rnn_jax.tasks.delayed_xor import DelayedXOR
from rnn_jax.tasks.echo import Echo
from rnn_jax.tasks.digits import digits
from rnn_jax.tasks.first_input import FirstInput
from rnn_jax.tasks.forecast import Forecast
from rnn_jax.tasks.linear_system import LinearSystem
from rnn_jax.tasks.mnist1d import mnist1d
from rnn_jax.tasks.parity import Parity
from rnn_jax.tasks.temporal_order import TemporalOrder

for _name, _factory in (
    ("adding", Adding),
    ("copy", CopyMemory),
    ("parity", Parity),
    ("digits", digits),
    ("mnist1d", mnist1d),
    ("forecast", Forecast),
    ("temporal_order", TemporalOrder),
    ("delayed_xor", DelayedXOR),
    ("linear_system", LinearSystem),
    ("first_input", FirstInput),
    ("echo", Echo),
):
    register(_name, _factory)
del _name, _factory

__all__ = [
    "Adding",
    "AddingVariant",
    "ArrayTask",
    "CopyMemory",
    "DelayedXOR",
    "Echo",
    "FirstInput",
    "Forecast",
    "LinearSystem",
    "LossKind",
    "Parity",
    "Task",
    "TemporalOrder",
    "available",
    "digits",
    "get",
    "mnist1d",
    "register",
]
