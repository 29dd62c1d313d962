/*
 * pub_tmpl: signet-web's template renderer (web/tmpl.c, Kore-independent)
 * compiled into libsignet, so the publisher renders the published index
 * with the same escaping rules as every web page. One renderer, two users.
 */
#include "../web/tmpl.c"
