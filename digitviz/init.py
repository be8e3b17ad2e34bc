"""Where a run starts: the lesson's init_params, `torch.randn(size)*std` from the run's seed, computed in NumPy.

The page draws a run's first frame (its random starting weights) as soon as it opens, and it opens before its server
has loaded torch (1.6-1.9 s of a cold start; the workers train). So the starting weights are made here, without
torch, and they are torch's own, bit for bit (tests/unit/test_init.py compares them with torch.randn for 63 seeds
and every shape a model has): every run, the lesson's numbers and the class rounds' answers stay as they
were. The engine trains from them as tensors (digitviz.models.initial_params).

How torch.randn(size, generator=torch.Generator().manual_seed(seed)) makes its numbers, on a CPU with AVX2 (this
machine's kind; torch's AVX-512 and ARM builds take other paths, with other last bits):
- a 32-bit Mersenne Twister seeded with the seed: NumPy's legacy RandomState is the same generator, and its stream
  is frozen (NumPy promises that a seed gives the same numbers in every version);
- 16 or more numbers: uniform floats from 24 bits each, then Box-Muller 16 at a time (the first 8 with the last 8),
  with the float32 log and sincos of avx_mathfun.h as GCC compiles them, multiply-adds fused; a size that is not a
  multiple of 16 draws 16 fresh uniforms for its last 16 numbers;
- fewer than 16: Box-Muller in double precision, one pair per two numbers (the second kept for the next call).
"""
import math

import numpy as np

HIDDEN = 30  # the book's simple_net: nn.Linear(28*28, 30), nn.ReLU(), nn.Linear(30, 1)
PIXELS = 28 * 28

F = np.float32
# avx_mathfun.h's constants (Cephes' polynomials for logf, sinf and cosf), as float32
LOG_POLY = [F(c) for c in (7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
                           -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1)]
LOG_Q1, LOG_Q2, SQRT_HALF = F(-2.12194440e-4), F(0.693359375), F(0.707106781186547524)
PI_PARTS = [F(-0.78515625), F(-2.4187564849853515625e-4), F(-3.77489497744594108e-8)]  # -pi/4 in three pieces
SIN_POLY = [F(-1.9515295891E-4), F(8.3321608736E-3), F(-1.6666654611E-1)]
COS_POLY = [F(2.443315711809948E-005), F(-1.388731625493765E-003), F(4.166664568298827E-002)]
FOUR_OVER_PI, TWO_PI = F(1.27323954473516), F(2.0 * math.pi)


def init_params(size, std, generator):
    """The lesson's init_params: normals from `generator` (a Generator) times std, in float32 as torch multiplies."""
    return generator.randn(size) * F(std)


def initial_arrays(config):
    """The parameters a run with this config starts from, drawn in order from its seed, as NumPy float32 arrays."""
    generator, std = Generator(config.seed), config.init_std
    if config.model == "two_layer":
        # init_std scales PyTorch's own 1/sqrt(fan_in): a raw std of 1 on 784 inputs saturates every unit
        return {"weights": init_params((PIXELS, HIDDEN), std / 28, generator),
                "bias": init_params(HIDDEN, std / 28, generator),
                "out_weights": init_params((HIDDEN, 1), std / math.sqrt(HIDDEN), generator),
                "out_bias": init_params(1, std / math.sqrt(HIDDEN), generator)}
    outputs = 10 if config.ten_digits else 1  # the softmax model: ten linear models side by side
    return {"weights": init_params((PIXELS, outputs), std, generator), "bias": init_params(outputs, std, generator)}


class Generator:
    """torch.Generator().manual_seed(seed), for randn and randperm: the same numbers in the same order (see above)."""

    def __init__(self, seed):
        # torch's mt19937 keeps the seed's low 32 bits (an epoch's shuffle seed can be larger: config.shuffle_seed)
        self.twister = np.random.RandomState(seed % 2**32)
        self.spare = None  # the second number of the last double-precision pair, not yet used

    def randn(self, size):
        n = math.prod(size) if isinstance(size, tuple) else size
        if n < 16:
            return np.array([self._normal() for _ in range(n)]).astype(F).reshape(size)
        u = self._uniforms(n)
        whole = n // 16 * 16
        u[:whole] = _box_muller(u[:whole].reshape(-1, 16)).reshape(-1)
        if n % 16:
            u[-16:] = _box_muller(self._uniforms(16).reshape(1, 16)).reshape(-1)
        return u.reshape(size)

    def draws(self, n):
        """The twister's next n 32-bit numbers, as torch's generator gives them to randperm (digitviz.kernel)."""
        return self.twister.randint(0, 2**32, size=n, dtype=np.uint64)

    def _uniforms(self, n):
        return (self.draws(n) & 0xFFFFFF).astype(F) * F(2.0**-24)

    def _uniform(self):
        """A double in [0, 1) from 53 bits of two draws, the first the high half."""
        high, low = (int(d) for d in self.draws(2))
        return ((high << 32 | low) & (2**53 - 1)) * 2.0**-53

    def _normal(self):
        if self.spare is not None:
            spare, self.spare = self.spare, None
            return spare
        u1, u2 = self._uniform(), self._uniform()
        r, theta = math.sqrt(-2.0 * math.log1p(-u2)), 2.0 * math.pi * u1
        self.spare = r * math.sin(theta)
        return r * math.cos(theta)


def _box_muller(u):
    """(m, 16) uniforms -> (m, 16) normals: columns j and j + 8 are one pair."""
    radius = np.sqrt(F(-2.0) * _log(F(1.0) - u[:, :8]))
    sin, cos = _sincos(TWO_PI * u[:, 8:])
    return np.concatenate([radius * cos + F(0), radius * sin + F(0)], axis=1)


def _fma(a, b, c):
    """float32 a*b + c, rounded once, as the fused multiply-add: the product is exact in float64, and the sum's one
    rounding error (TwoSum) settles the rare float64 sum that lies exactly halfway between two float32s."""
    a, b, c = (np.asarray(v, F).astype(np.float64) for v in (a, b, c))
    p = a * b
    s = p + c
    back = s - p
    error = (p - (s - back)) + (c - back)
    halfway = ((s.view(np.uint64) & np.uint64(2**29 - 1)) == np.uint64(2**28)) & (error != 0)
    return np.where(halfway, np.nextafter(s, np.copysign(np.inf, error)), s).astype(F)


def _bits(x):
    return np.asarray(x, F).view(np.uint32)


def _log(x):
    """avx_mathfun's log256_ps (Cephes' logf) for x in (0, 1]."""
    x = np.maximum(x, F(2.0**-126))
    exponent = (_bits(x) >> np.uint32(23)).astype(np.int32) - np.int32(0x7F)
    x = ((_bits(x) & np.uint32(0x807FFFFF)) | _bits(F(0.5))).view(F)  # the mantissa, in [0.5, 1)
    e = exponent.astype(F) + F(1.0)
    small = x < SQRT_HALF
    e = e - np.where(small, F(1.0), F(0.0))
    x = (x - F(1.0)) + np.where(small, x, F(0.0))
    z = x * x
    y = np.full_like(x, LOG_POLY[0])
    for c in LOG_POLY[1:]:
        y = _fma(y, x, c)
    y = _fma(y * x, z, e * LOG_Q1)
    y = _fma(-z, F(0.5), y)
    return _fma(e, LOG_Q2, x + y)


def _sincos(x):
    """avx_mathfun's sincos256_ps (Cephes' sinf and cosf) for x >= 0: (sin, cos)."""
    j = (x * FOUR_OVER_PI).astype(np.int32)
    j = (j + 1) & np.int32(~1)
    y = j.astype(F)
    for part in PI_PARTS:  # x - j*pi/4, in extended precision
        x = _fma(y, part, x)
    sin_sign = (j & 4).astype(np.uint32) << np.uint32(29)
    cos_sign = (~(j - 2) & 4).astype(np.uint32) << np.uint32(29)
    z = x * x
    yc = _fma(np.full_like(x, COS_POLY[0]), z, COS_POLY[1])
    yc = _fma(yc, z, COS_POLY[2])
    yc = _fma(yc * z, z, -(z * F(0.5))) + F(1.0)
    ys = _fma(np.full_like(x, SIN_POLY[0]), z, SIN_POLY[1])
    ys = _fma(ys, z, SIN_POLY[2])
    ys = _fma(ys * z, x, x)
    first = (j & 2) == 0  # which polynomial is the sine: the other is the cosine
    sin_part, cos_part = np.where(first, ys, F(0.0)), np.where(first, F(0.0), yc)
    sin = cos_part + sin_part
    cos = (yc - cos_part) + (ys - sin_part)
    return (_bits(sin) ^ sin_sign).view(F), (_bits(cos) ^ cos_sign).view(F)
