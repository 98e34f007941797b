package alipaysim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

const maxControlBody = 64 << 10

// routes serves the gateway at GatewayPath, bill files at BillFilePath (under any
// prefix: see billDownloadURL) and the control routes under ControlPrefix.
func (s *Simulator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(GatewayPath, s.handleGateway)
	mux.HandleFunc(BillFilePath, s.handleBillFile)
	mux.Handle(ControlPrefix+"/", http.StripPrefix(ControlPrefix, s.controlRoutes()))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, BillFilePath) {
			s.handleBillFile(w, r)
			return
		}
		writeError(w, &Error{Status: http.StatusNotFound, Code: "NOT_FOUND",
			Message: "no route " + r.URL.Path + " (the gateway is " + GatewayPath + ", the simulator's own routes are under " + ControlPrefix + "/)"})
	})
	return mux
}

// tradeRequest is the body of POST /scan, /pay and /notify.
type tradeRequest struct {
	OutTradeNo string `json:"out_trade_no"`
}

// controlRoutes are the simulator's own routes, seen without ControlPrefix.
func (s *Simulator) controlRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /scan", func(w http.ResponseWriter, r *http.Request) {
		var req tradeRequest
		if !decodeJSON(w, r, &req) {
			return
		}
		v, err := s.Scan(req.OutTradeNo)
		respond(w, v, err)
	})
	mux.HandleFunc("POST /pay", func(w http.ResponseWriter, r *http.Request) {
		var req tradeRequest
		if !decodeJSON(w, r, &req) {
			return
		}
		v, err := s.Pay(r.Context(), req.OutTradeNo)
		respond(w, v, err)
	})
	mux.HandleFunc("POST /notify", func(w http.ResponseWriter, r *http.Request) {
		var req tradeRequest
		if !decodeJSON(w, r, &req) {
			return
		}
		v, err := s.Notify(r.Context(), req.OutTradeNo)
		respond(w, v, err)
	})
	mux.HandleFunc("POST /forge", func(w http.ResponseWriter, r *http.Request) {
		var req ForgeRequest
		if !decodeJSON(w, r, &req) {
			return
		}
		v, err := s.Forge(r.Context(), req)
		respond(w, v, err)
	})
	mux.HandleFunc("POST /cashier/pay", s.handleCashierPay)
	mux.HandleFunc("GET /trades/{out_trade_no}", func(w http.ResponseWriter, r *http.Request) {
		t, ok := s.Trade(r.PathValue("out_trade_no"))
		if !ok {
			writeError(w, notFound("trade", r.PathValue("out_trade_no")))
			return
		}
		writeJSON(w, http.StatusOK, t)
	})
	mux.HandleFunc("GET /refunds", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"refunds": s.Refunds(r.URL.Query().Get("out_trade_no"))})
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !decodeJSON(w, r, &f) {
			return
		}
		if err := s.AddFault(f); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"faults": s.Faults()})
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"faults": s.Faults()})
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"calls": s.Calls(r.URL.Query().Get("method"))})
	})
	mux.HandleFunc("GET /notifications", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"deliveries": s.Deliveries(r.URL.Query().Get("out_trade_no"))})
	})
	s.billControlRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no control route " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// respond writes a control method's result: the value as JSON, or the error.
func respond(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		writeError(w, badField("body", err.Error()))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, badField("body", "not the expected JSON object: "+err.Error()))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e = &Error{Status: http.StatusServiceUnavailable, Code: "CANCELED", Message: err.Error()}
	default:
		e = &Error{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: err.Error()}
	}
	writeJSON(w, e.Status, map[string]*Error{"error": e})
}
