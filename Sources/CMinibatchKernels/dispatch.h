// Internal to the kernel target: instruction-set detection and the dispatch macro every kernel
// file uses. Each loop is one always-inline body, compiled three times under
// `__attribute__((target(…)))` (x86-64-v4: AVX-512 F/BW/CD/DQ/VL; x86-64-v3: AVX2, FMA, BMI2;
// baseline SSE2); the entry point picks one on its first call (`__builtin_cpu_supports`) and keeps
// it in an atomic pointer. Not `target_clones`: its ifunc resolvers run while the program is being
// loaded, before a sanitizer's runtime has started, and crash the thread and address sanitizers.
#ifndef MINIBATCH_KERNELS_DISPATCH_H
#define MINIBATCH_KERNELS_DISPATCH_H

#include <stdatomic.h>
#include <stddef.h>

#define MINIBATCH_INLINE static inline __attribute__((always_inline))

enum isa { ISA_BASELINE, ISA_V3, ISA_V4 };

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define MINIBATCH_X86 1
#define V4 __attribute__((target("arch=x86-64-v4")))
#define V3 __attribute__((target("arch=x86-64-v3")))
#endif

/// The instruction set the kernels run with: the best this machine supports
/// (`__builtin_cpu_supports`), lowered by the environment variable `MINIBATCH_KERNELS_ISA`
/// (`baseline`, `x86-64-v3`, `x86-64-v4`) when it is set; read once.
enum isa minibatch_detected_isa(void);

/// The calling thread's override, or −1 (tests force the baseline bodies with it).
extern _Thread_local int minibatch_thread_isa;

/// One kernel's entry point: the body for each instruction set, and the one chosen on first use
/// (or the calling thread's override). `params` is the parenthesised parameter list, `args` the
/// same names as an argument list; `keyword` is `return` for a kernel that returns a value and
/// empty for a void one (C allows no `return f(…);` in a void function).
#ifdef MINIBATCH_X86
#define MINIBATCH_DISPATCH_ENTRY(ret, keyword, name, params, args)                  \
  V4 static ret name##_v4 params { keyword name##_body args; }                      \
  V3 static ret name##_v3 params { keyword name##_body args; }                      \
  static ret name##_baseline params { keyword name##_body args; }                   \
  typedef ret(*name##_fn) params;                                                   \
  static name##_fn name##_for(int isa) {                                            \
    return isa == ISA_V4 ? name##_v4 : isa == ISA_V3 ? name##_v3 : name##_baseline; \
  }                                                                                 \
  static _Atomic(name##_fn) name##_chosen = NULL;                                   \
  ret minibatch_##name params {                                                     \
    name##_fn chosen_ = __builtin_expect(minibatch_thread_isa >= 0, 0)              \
                            ? name##_for(minibatch_thread_isa)                      \
                            : atomic_load_explicit(&name##_chosen, memory_order_relaxed); \
    if (chosen_ == NULL) {                                                          \
      chosen_ = name##_for(minibatch_detected_isa());                               \
      atomic_store_explicit(&name##_chosen, chosen_, memory_order_relaxed);         \
    }                                                                               \
    keyword chosen_ args;                                                           \
  }
#else
#define MINIBATCH_DISPATCH_ENTRY(ret, keyword, name, params, args) \
  ret minibatch_##name params { keyword name##_body args; }
#endif

#define MINIBATCH_DISPATCH_RETURNING(ret, name, params, args) \
  MINIBATCH_DISPATCH_ENTRY(ret, return, name, params, args)
#define MINIBATCH_DISPATCH_SIGNATURE(name, params, args) \
  MINIBATCH_DISPATCH_ENTRY(void, , name, params, args)

#define MINIBATCH_DISPATCH(name, type) \
  MINIBATCH_DISPATCH_SIGNATURE(name, (const type *x, type *y, size_t n), (x, y, n))


#endif
