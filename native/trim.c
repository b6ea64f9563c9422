/*
 * malloc_trim(0) for the controller and engines (util/memory-return.ts): glibc keeps the
 * memory that bursts of small allocations (ZeroMQ frames, Buffers) freed
 * inside its arenas, resident, and gives back only the top of each heap.
 * malloc_trim also releases the free pages in the middle. Elsewhere than
 * glibc, trim() does nothing and returns false.
 */
#include <node_api.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static napi_value Trim(napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#if defined(__GLIBC__)
  released = malloc_trim(0);
#endif
  napi_value out;
  napi_get_boolean(env, released != 0, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &fn);
  napi_set_named_property(env, exports, "trim", fn);
  return exports;
}
