# Independent Python model of BatchSampler's shuffle, for golden values.
M = (1 << 64) - 1
def splitmix(seed):
    x = seed
    out = []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & M
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        out.append(z ^ (z >> 31))
    return out
def rotl(x, k): return ((x << k) | (x >> (64 - k))) & M
class Xoshiro:
    def __init__(self, seed): self.s = splitmix(seed)
    def next(self):
        s = self.s
        r = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 17) & M
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45)
        return r
    def uniform(self, bound):
        threshold = ((1 << 64) - bound) % bound
        while True:
            d = self.next()
            if d >= threshold: return d % bound
def batches(n, k, seed, epoch, keep=True):
    g = Xoshiro(seed ^ ((epoch * 0x9E3779B97F4A7C15) & M))
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = g.uniform(i + 1)
        order[i], order[j] = order[j], order[i]
    nb = n // k + (1 if keep and n % k else 0)
    return [order[b*k:(b+1)*k] for b in range(nb)]
print(batches(10, 4, 42, 0))
print(batches(10, 4, 42, 1))
print(batches(10, 4, 7, 0))
