/*
 * pages: what a signed-in employee sees.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include "web.h"

int
web_home(struct http_request *req)
{
	struct web_session	 s;
	struct tmpl_data	*d;
	struct err		 e;

	if (!web_session_get(req, &s)) {
		web_redirect(req, "/login");
		return KORE_RESULT_OK;
	}
	if ((d = tmpl_data_new()) == NULL ||
	    tmpl_data_set(d, "name", s.display_name, &e) == -1 ||
	    tmpl_data_set(d, "mail", s.mail, &e) == -1) {
		tmpl_data_free(d);
		web_error(req, HTTP_STATUS_INTERNAL_ERROR, "Error",
		    "The page could not be built.");
		return KORE_RESULT_OK;
	}
	web_page(req, HTTP_STATUS_OK, "home", "Your certificates", d, &s);
	tmpl_data_free(d);
	return KORE_RESULT_OK;
}
