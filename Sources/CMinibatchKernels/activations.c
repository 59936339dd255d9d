// Elementwise activations: the forward passes of relu, leaky relu, sigmoid and gelu, and the backward
// passes below[i] = g[i]·f′ for the layer's input x[i] and output f[i]. Contraction off: the same
// bits on every instruction set (the backward passes and relu's also as the Swift loops these
// replace).
//
// Sigmoid is 1/(1 + e) for x ≥ 0 and e/(1 + e) below, e = exp(−|x|) ∈ (0, 1] (no overflow), with
// the vector exp of `exp_nonpositive.h`.
#include "minibatch_kernels.h"
#include "dispatch.h"

#pragma STDC FP_CONTRACT OFF

#include "exp_nonpositive.h"

// gelu(x) = x·Φ(x), Φ(x) = ½·erfc(−x/√2). With t = |x|/√2: Φ = 1 − ½·erfc(t) for x ≥ 0 and
// ½·erfc(t) below, erfc(t) = e^(−x²/2)·erfcx(t). erfcx (= e^(t²)·erfc(t), smooth and in (0, 1])
// is a table of 16 degree-12 polynomials in y = 4/(4 + t) ∈ (0.125, 1], fitted at Chebyshev nodes
// in 40 digits (`Benchmarks/scripts/erfcx_table.py`, which prints this table; 3.6 ulp worst in
// double). e^(−x²/2) is formed from x² = h + l exactly (Dekker's product of Veltkamp halves) as
// e^(−h/2)·(1 − l/2), so Φ keeps its relative accuracy for x < 0 down to where it underflows (a
// rounded t would lose 2t² ulp). Everything is in double, the float kernels included.
static const double erfcx_table[16][13] = {
    {0.025324021465668922, 0.0053514701302544883, 0.00016922070368858349, 5.1131216101425349e-06, 1.4693956911236553e-07, 3.9922303709218901e-09, 1.0173693781586587e-10, 2.4051950667547136e-12, 5.1895954765296584e-14, 9.9495370377570607e-16, 1.6102517955591065e-17, 1.9281223566578208e-19, 7.8152234226805911e-22},
    {0.036747235131131699, 0.0060947525155097193, 0.00020377149236724758, 6.4660507991484863e-06, 1.937019034834883e-07, 5.4405008460868396e-09, 1.4194761874304928e-10, 3.3952961237218832e-12, 7.2962728958687222e-14, 1.3603365101159799e-15, 2.0451172505200192e-17, 1.9647999844594196e-19, -6.4446574596916469e-22},
    {0.049806837403137919, 0.0069940936485380668, 0.00024768836923964367, 8.2580374304101469e-06, 2.5766193817870117e-07, 7.4646775294208035e-09, 1.9863930472882125e-10, 4.779234825553822e-12, 1.0138118345631274e-13, 1.8105462446430283e-15, 2.441134152889599e-17, 1.5261740673016834e-19, -3.214265967972417e-21},
    {0.064856217288871143, 0.0080928263188417976, 0.00030406872992305088, 1.0652570486873279e-05, 3.4568643865233625e-07, 1.0299074751952237e-08, 2.7820403790430606e-10, 6.686199646785657e-12, 1.3853625261949202e-13, 2.3252831093379244e-15, 2.6624468902876447e-17, 3.2655435967087369e-20, -6.9526944835158665e-21},
    {0.082349244661127544, 0.0094488745343413172, 0.00037717607472638134, 1.3878543071242832e-05, 4.6740645878270984e-07, 1.4266130909836482e-08, 3.8897898465793281e-10, 9.2631607819596815e-12, 1.8516568176488922e-13, 2.8509412147738e-15, 2.5138197883850905e-17, -1.8646549943162109e-19, -1.1332567954491679e-20},
    {0.10287468752204229, 0.011140298677421225, 0.00047290630367537368, 1.825621150598372e-05, 6.3621940104283002e-07, 1.980088196686271e-08, 5.4139863338874257e-10, 1.2659192928576172e-11, 2.4066561038911436e-13, 3.2910102375478418e-15, 1.7691921013921116e-17, -5.0666039722718701e-19, -1.5114807624179874e-20},
    {0.12720380925547536, 0.013273051395549861, 0.00059943579816957616, 2.4232164136253743e-05, 8.7053974200934248e-07, 2.7475616773555553e-08, 7.4784448473937462e-10, 1.6997665013316062e-11, 3.0229630066850332e-13, 3.5057936042990524e-15, 2.3637049058820672e-18, -8.929416362912735e-19, -1.6529867074228563e-20},
    {0.15635637052488383, 0.015991787397674789, 0.00076811124911507138, 3.2425241112085527e-05, 1.1952786242126806e-06, 3.802004186462274e-08, 1.0220186432037622e-09, 2.2336379085528428e-11, 3.6451798394839058e-13, 3.3280324961909371e-15, -2.1521295551719032e-17, -1.2672524603905564e-18, -1.3889142672566055e-20},
    {0.19169220170816301, 0.019494832421890804, 0.00099465194890624204, 4.3684973857679113e-05, 1.6434756818810652e-06, 5.2330322422436271e-08, 1.3776985722789468e-09, 2.8620220493954943e-11, 4.1877426160188868e-13, 2.5968404924241216e-15, -5.2535441259618606e-17, -1.5204583964057825e-18, -6.4288461395398798e-21},
    {0.23503801626423432, 0.024054715325928278, 0.001300742276418068, 5.9163214836933361e-05, 2.2579332087945074e-06, 7.1459180750941555e-08, 1.8268301441527674e-09, 3.5635965648706659e-11, 4.5401784614399104e-13, 1.2046460654618344e-15, -8.6772914797898959e-17, -1.5430910718594502e-18, 5.0514151110191484e-21},
    {0.28886225696086953, 0.030045980790313797, 0.0017160919016226202, 8.0398115379956794e-05, 3.0926250218090459e-06, 9.6579647426272479e-08, 2.3770791997799075e-09, 4.2982445308133185e-11, 4.5810397609107274e-13, -8.5602378815131479e-16, -1.182730834077354e-16, -1.2646060369566795e-18, 1.8166077562735655e-20},
    {0.35651450137162838, 0.037982292275704453, 0.0022810301650119939, 0.00010940751874519931, 4.2135893171241029e-06, 1.2891763887982895e-07, 3.0291508967706128e-09, 5.0069127715501564e-11, 4.1989878256834653e-13, -3.4625990000275254e-15, -1.4025070772792256e-16, -6.8442691587691645e-19, 2.9631813880109107e-20},
    {0.44255020990664706, 0.04856505587916804, 0.0030496762097436373, 0.00014878637335631367, 5.6989885308866289e-06, 1.6965324229280356e-07, 3.7743409330979198e-09, 5.6151422191046941e-11, 3.3167049089811094e-13, -6.3625182570142106e-15, -1.4678242621081412e-16, 1.1939509878988208e-19, 3.6370379427639744e-20},
    {0.55316617903775767, 0.062745887244308504, 0.0040936865729358108, 0.0002018003085440454, 7.6380476622143246e-06, 2.1979663808779338e-07, 4.592843072192191e-09, 6.0402598052909012e-11, 1.9117355263733731e-13, -9.2069449700584297e-15, -1.3438870384466574e-16, 1.0079780034336378e-18, 3.6526842889392793e-20},
    {0.69677664625906477, 0.081805147554925059, 0.0055065284706635551, 0.00027246552678065659, 1.0128672587839526e-05, 2.8005060749982615e-07, 5.4532693040396258e-09, 6.2012794281852086e-11, 2.8721396454202359e-15, -1.1610580943412794e-14, -1.0299123388838332e-16, 1.8184579897482488e-18, 2.9990842813675413e-20},
    {0.88476415678822196, 0.10744844411548041, 0.0074081642297984165, 0.0003656041232633783, 1.3273693502729206e-05, 3.5067601984946221e-07, 6.3136503326479036e-09, 6.029827832887723e-11, -2.2203346965240631e-13, -1.3221865190148067e-14, -5.5976186419185244e-17, 2.4057217772098379e-18, 1.8285742787510946e-20},
};

/// Φ(x), and e = e^(−x²/2) in `*e` (see above). NaN stays NaN; |x| beyond 40 is taken as 40,
/// where e is 0 already.
MINIBATCH_INLINE double gelu_cdf(double x, double *e) {
  double a = __builtin_fabs(x);
  a = a > 40.0 ? 40.0 : a;
  double split = 134217729.0 * a;  // 2^27 + 1
  double high = split - (split - a);
  double low = a - high;
  double h = a * a;
  double l = ((high * high - h) + 2.0 * high * low) + low * low;
  double gauss = exp_nonpositive_f64(-0.5 * h) * (1.0 - 0.5 * l);
  double t = a * 0.70710678118654752440;
  double y = 4.0 / (4.0 + t);
  double f = (y - 0.125) * (16.0 / 0.875);
  f = f >= 0.0 ? (f < 15.0 ? f : 15.0) : 0.0;  // NaN: interval 0 (the result stays NaN)
  int i = (int)f;
  double s = (y - (0.125 + 0.0546875 * (i + 0.5))) / 0.02734375;
  const double *c = erfcx_table[i];  // Horner, written out: the loop over x then vectorises
  double p = c[12] * s + c[11];
  p = p * s + c[10];
  p = p * s + c[9];
  p = p * s + c[8];
  p = p * s + c[7];
  p = p * s + c[6];
  p = p * s + c[5];
  p = p * s + c[4];
  p = p * s + c[3];
  p = p * s + c[2];
  p = p * s + c[1];
  p = p * s + c[0];
  double erfc_ = gauss * p;
  *e = gauss;
  return x >= 0 ? 1.0 - 0.5 * erfc_ : 0.5 * erfc_;
}

/// gelu(x) = x·Φ(x).
MINIBATCH_INLINE double gelu(double x) {
  double e;
  return x * gelu_cdf(x, &e);
}

/// gelu′(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).
MINIBATCH_INLINE double gelu_derivative(double x) {
  double e;
  double cdf = gelu_cdf(x, &e);
  return cdf + x * (e * 0.39894228040143267794);
}

#define ACTIVATION_FORWARD_BODY(type, leak, exp_nonpositive, fabs_)              \
  switch (kind) {                                                                \
    case MINIBATCH_RELU:                                                         \
      for (size_t i = 0; i < n; i++) y[i] = 0 >= x[i] ? (type)0 : x[i];           \
      break;                                                                     \
    case MINIBATCH_LEAKY_RELU:                                                   \
      for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : leak * x[i];       \
      break;                                                                     \
    case MINIBATCH_SIGMOID:                                                      \
      for (size_t i = 0; i < n; i++) {                                           \
        type e = exp_nonpositive(-fabs_(x[i]));                                  \
        y[i] = x[i] >= 0 ? 1 / (1 + e) : e / (1 + e);                            \
      }                                                                          \
      break;                                                                     \
    case MINIBATCH_GELU:                                                         \
      for (size_t i = 0; i < n; i++) y[i] = (type)gelu((double)x[i]);            \
      break;                                                                     \
    default:                                                                     \
      break;                                                                     \
  }

MINIBATCH_INLINE void activation_forward_f32_body(int kind, const float *restrict x,
                                                  float *restrict y, size_t n) {
  ACTIVATION_FORWARD_BODY(float, 0.01f, exp_nonpositive_f32, __builtin_fabsf)
}
MINIBATCH_INLINE void activation_forward_f64_body(int kind, const double *restrict x,
                                                  double *restrict y, size_t n) {
  ACTIVATION_FORWARD_BODY(double, 0.01, exp_nonpositive_f64, __builtin_fabs)
}

MINIBATCH_DISPATCH_SIGNATURE(activation_forward_f32, (int kind, const float *x, float *y, size_t n),
                             (kind, x, y, n))
MINIBATCH_DISPATCH_SIGNATURE(activation_forward_f64,
                             (int kind, const double *x, double *y, size_t n), (kind, x, y, n))

#define ACTIVATION_BACKWARD_BODY(type, leak)                                   \
  switch (kind) {                                                              \
    case MINIBATCH_RELU:                                                       \
      for (size_t i = 0; i < n; i++) below[i] = x[i] > 0 ? g[i] : (type)0;     \
      break;                                                                   \
    case MINIBATCH_LEAKY_RELU:                                                 \
      for (size_t i = 0; i < n; i++) below[i] = x[i] > 0 ? g[i] : leak * g[i]; \
      break;                                                                   \
    case MINIBATCH_TANH:                                                       \
      for (size_t i = 0; i < n; i++) below[i] = g[i] * (1 - f[i] * f[i]);      \
      break;                                                                   \
    case MINIBATCH_SIGMOID:                                                    \
      for (size_t i = 0; i < n; i++) below[i] = g[i] * (f[i] * (1 - f[i]));    \
      break;                                                                   \
    case MINIBATCH_GELU:                                                       \
      for (size_t i = 0; i < n; i++)                                           \
        below[i] = g[i] * (type)gelu_derivative((double)x[i]);                 \
      break;                                                                   \
    default:                                                                   \
      break;                                                                   \
  }

MINIBATCH_INLINE void activation_backward_f32_body(int kind, const float *restrict g,
                                                   const float *restrict x,
                                                   const float *restrict f,
                                                   float *restrict below, size_t n) {
  ACTIVATION_BACKWARD_BODY(float, 0.01f)
}

MINIBATCH_INLINE void activation_backward_f64_body(int kind, const double *restrict g,
                                                   const double *restrict x,
                                                   const double *restrict f,
                                                   double *restrict below, size_t n) {
  ACTIVATION_BACKWARD_BODY(double, 0.01)
}

#define BACKWARD_PARAMS(type) \
  (int kind, const type *g, const type *x, const type *f, type *below, size_t n)
#define BACKWARD_ARGS (kind, g, x, f, below, n)
MINIBATCH_DISPATCH_SIGNATURE(activation_backward_f32, BACKWARD_PARAMS(float), BACKWARD_ARGS)
MINIBATCH_DISPATCH_SIGNATURE(activation_backward_f64, BACKWARD_PARAMS(double), BACKWARD_ARGS)
