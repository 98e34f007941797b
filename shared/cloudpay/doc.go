// Package cloudpay holds the domain of the payment back end: money, orders,
// their states and the error codes every function shares. It imports no
// third-party code; adapters translate their libraries' errors into these.
package cloudpay
